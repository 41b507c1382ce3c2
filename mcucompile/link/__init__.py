"""The serial link between the host and mcucompile firmware (the "serial" transport).

protocol.py  the frame format (spec at its top), CRC-32, encoders/decoders, model fingerprint
session.py   the host side over any pyserial port: requests, timeouts, recovery, checks
qemu.py      a QEMU board with its UART on a loopback TCP socket, for `simulate --transport serial`
"""
