/* Arm CMSDK APB UART driver (MPS2 / MPS3 FPGA images, as QEMU models them) for uart.h.
 *
 * Polled, no interrupts. Registers (offsets from MCUC_UART_BASE): DATA 0x00, STATE 0x04
 * (bit 0 TX buffer full, bit 1 RX buffer full), CTRL 0x08 (bit 0 TX enable, bit 1 RX enable),
 * BAUDDIV 0x10 (UART clock / baud rate, at least 16). The UART has a one-byte buffer each
 * way and no "transmitter idle" flag: flush waits for the TX buffer to drain.
 */
#include <stdint.h>

#include "board_config.h"
#include "uart.h"

#define UART_REG(offset) (*(volatile uint32_t *)(MCUC_UART_BASE + (offset)))
#define UART_DATA UART_REG(0x00u)
#define UART_STATE UART_REG(0x04u)
#define UART_CTRL UART_REG(0x08u)
#define UART_BAUDDIV UART_REG(0x10u)

#define STATE_TX_FULL (1u << 0)
#define STATE_RX_FULL (1u << 1)
#define CTRL_TX_EN (1u << 0)
#define CTRL_RX_EN (1u << 1)

void mcuc_uart_init(void)
{
    uint32_t div = (uint32_t)MCUC_UART_CLOCK_HZ / (uint32_t)MCUC_UART_BAUD;
    UART_CTRL = 0u;
    UART_BAUDDIV = div < 16u ? 16u : div;
    UART_CTRL = CTRL_TX_EN | CTRL_RX_EN;
    /* Drop any stale byte. Under QEMU this read also tells the chardev that the UART now takes
     * input (enabling RX alone does not), else the first byte waits up to a second. */
    (void)UART_DATA;
}

void mcuc_uart_putc(uint8_t byte)
{
    while (UART_STATE & STATE_TX_FULL) {
    }
    UART_DATA = byte;
}

uint8_t mcuc_uart_getc(void)
{
    while (!(UART_STATE & STATE_RX_FULL)) {
    }
    return (uint8_t)UART_DATA;
}

void mcuc_uart_flush(void)
{
    while (UART_STATE & STATE_TX_FULL) {
    }
}
