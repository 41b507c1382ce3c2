/* nRF52 UART0 driver for uart.h, in the legacy UART mode (no EasyDMA): the UARTE0 instance at
 * 0x40002000 also runs as the plain UART when ENABLE = 4 (nRF52840 Product Specification,
 * "UART - Universal asynchronous receiver/transmitter").
 *
 * Polled, 8N1, no flow control. The board's uart.setup writes select the pins (PSEL.TXD,
 * PSEL.RXD) and configure them in GPIO (TXD output high, RXD input). Registers (offsets from
 * MCUC_UART_BASE): TASKS_STARTRX 0x000, TASKS_STARTTX 0x008, EVENTS_RXDRDY 0x108,
 * EVENTS_TXDRDY 0x11C, EVENTS_ERROR 0x124, ERRORSRC 0x480 (write 1 to clear), ENABLE 0x500,
 * RXD 0x518, TXD 0x51C, BAUDRATE 0x524, CONFIG 0x56C (0: no parity, no flow control).
 *
 * The baud generator runs from the 16 MHz HFCLK. After reset that comes from the internal RC
 * oscillator (HFINT), whose tolerance is too loose to rely on for a UART, so init first starts
 * the crystal oscillator (CLOCK at 0x40000000: TASKS_HFCLKSTART 0x000, EVENTS_HFCLKSTARTED
 * 0x100) and waits for it. BAUDRATE takes the Product Specification's table values, not a
 * formula (115200 baud is 0x01D7E000, actually 115942 baud, +0.6%).
 */
#include <stdint.h>

#include "board_config.h"
#include "uart.h"

#define REG32(address) (*(volatile uint32_t *)(address))
#define UART_REG(offset) REG32(MCUC_UART_BASE + (offset))
#define UART_TASKS_STARTRX UART_REG(0x000u)
#define UART_TASKS_STARTTX UART_REG(0x008u)
#define UART_EVENTS_RXDRDY UART_REG(0x108u)
#define UART_EVENTS_TXDRDY UART_REG(0x11Cu)
#define UART_EVENTS_ERROR UART_REG(0x124u)
#define UART_ERRORSRC UART_REG(0x480u)
#define UART_ENABLE UART_REG(0x500u)
#define UART_RXD UART_REG(0x518u)
#define UART_TXD UART_REG(0x51Cu)
#define UART_BAUDRATE UART_REG(0x524u)
#define UART_CONFIG UART_REG(0x56Cu)
#define ENABLE_UART 4u

#define CLOCK_TASKS_HFCLKSTART REG32(0x40000000u)
#define CLOCK_EVENTS_HFCLKSTARTED REG32(0x40000100u)

#if MCUC_UART_BAUD == 9600
#define UART_BAUD_VALUE 0x00275000u
#elif MCUC_UART_BAUD == 19200
#define UART_BAUD_VALUE 0x004EA000u
#elif MCUC_UART_BAUD == 38400
#define UART_BAUD_VALUE 0x009D5000u
#elif MCUC_UART_BAUD == 57600
#define UART_BAUD_VALUE 0x00EBF000u
#elif MCUC_UART_BAUD == 115200
#define UART_BAUD_VALUE 0x01D7E000u
#elif MCUC_UART_BAUD == 230400
#define UART_BAUD_VALUE 0x03AFB000u
#elif MCUC_UART_BAUD == 460800
#define UART_BAUD_VALUE 0x075F7000u
#elif MCUC_UART_BAUD == 921600
#define UART_BAUD_VALUE 0x0EBED000u
#elif MCUC_UART_BAUD == 1000000
#define UART_BAUD_VALUE 0x10000000u
#else
#error "MCUC_UART_BAUD is not one of the nRF UART's rates (9600 ... 115200 ... 1000000)"
#endif

static int tx_pending; /* a byte was written to TXD and its TXDRDY not yet consumed */

void mcuc_uart_init(void)
{
    CLOCK_EVENTS_HFCLKSTARTED = 0u;
    CLOCK_TASKS_HFCLKSTART = 1u;
    while (CLOCK_EVENTS_HFCLKSTARTED == 0u) {
    }
    UART_ENABLE = 0u;
    UART_BAUDRATE = UART_BAUD_VALUE;
    UART_CONFIG = 0u;
    UART_ENABLE = ENABLE_UART;
    UART_EVENTS_RXDRDY = 0u;
    UART_EVENTS_TXDRDY = 0u;
    UART_EVENTS_ERROR = 0u;
    UART_ERRORSRC = UART_ERRORSRC; /* write 1 to clear */
    UART_TASKS_STARTRX = 1u;
    UART_TASKS_STARTTX = 1u;
    tx_pending = 0;
}

static void wait_tx_done(void)
{
    if (tx_pending) {
        while (UART_EVENTS_TXDRDY == 0u) {
        }
        UART_EVENTS_TXDRDY = 0u;
        tx_pending = 0;
    }
}

void mcuc_uart_putc(uint8_t byte)
{
    wait_tx_done(); /* TXD holds one byte: the previous one must have gone out */
    UART_TXD = byte;
    tx_pending = 1;
}

uint8_t mcuc_uart_getc(void)
{
    while (UART_EVENTS_RXDRDY == 0u) {
        if (UART_EVENTS_ERROR != 0u) { /* overrun, framing, break: clear, keep receiving */
            UART_EVENTS_ERROR = 0u;
            UART_ERRORSRC = UART_ERRORSRC;
        }
    }
    UART_EVENTS_RXDRDY = 0u; /* clear before reading RXD (the next byte may raise it again) */
    return (uint8_t)UART_RXD;
}

void mcuc_uart_flush(void)
{
    wait_tx_done();
}
