"""mcucompile: INT8 neural networks -> static C firmware for Cortex-M microcontrollers.

Pipeline (one module per stage): frontend -> ir -> passes -> planner -> codegen -> build -> simulate.
"""
__version__ = "0.1.0"
