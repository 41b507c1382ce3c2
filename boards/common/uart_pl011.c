/* Arm PrimeCell UART (PL011) driver for uart.h: the RP2040's UART0/UART1 (RP2040 datasheet,
 * "UART"; Arm PL011 Technical Reference Manual, "Register descriptions").
 *
 * Polled, 8N1, FIFOs on, no flow control. The board's uart.setup steps (board_config.h) must
 * already have given the UART its clock (UARTCLK = MCUC_UART_CLOCK_HZ), taken it out of reset
 * and routed its pins. Registers (offsets from MCUC_UART_BASE): DR 0x000 (data; bits 11:8 the
 * receive errors), RSR/ECR 0x004 (write clears the errors), FR 0x018 (bit 3 BUSY, bit 4 RXFE,
 * bit 5 TXFF), IBRD 0x024, FBRD 0x028, LCR_H 0x02C (bit 4 FEN, bits 6:5 WLEN = 3 for 8 bits),
 * CR 0x030 (bit 0 UARTEN, bit 8 TXE, bit 9 RXE).
 *
 * Baud rate divisor: UARTCLK / (16 x baud) = IBRD + FBRD / 64, FBRD rounded to nearest, i.e.
 * DIV64 = round(4 x UARTCLK / baud) = 64 x IBRD + FBRD (12 MHz, 115200 baud: IBRD 6, FBRD 33,
 * 115108 baud, -0.08%). IBRD and FBRD take effect with the next write of LCR_H.
 */
#include <stdint.h>

#include "board_config.h"
#include "uart.h"

#define UART_REG(offset) (*(volatile uint32_t *)(MCUC_UART_BASE + (offset)))
#define UART_DR UART_REG(0x000u)
#define UART_RSR UART_REG(0x004u)
#define UART_FR UART_REG(0x018u)
#define UART_IBRD UART_REG(0x024u)
#define UART_FBRD UART_REG(0x028u)
#define UART_LCR_H UART_REG(0x02Cu)
#define UART_CR UART_REG(0x030u)

#define FR_BUSY (1u << 3)
#define FR_RXFE (1u << 4)
#define FR_TXFF (1u << 5)
#define LCR_H_FEN (1u << 4)
#define LCR_H_WLEN_8 (3u << 5)
#define CR_UARTEN (1u << 0)
#define CR_TXE (1u << 8)
#define CR_RXE (1u << 9)

#define UART_DIV64 ((4u * (uint32_t)MCUC_UART_CLOCK_HZ + (uint32_t)MCUC_UART_BAUD / 2u) / \
                    (uint32_t)MCUC_UART_BAUD)
#if (4 * MCUC_UART_CLOCK_HZ + MCUC_UART_BAUD / 2) / MCUC_UART_BAUD < 64 || \
    (4 * MCUC_UART_CLOCK_HZ + MCUC_UART_BAUD / 2) / MCUC_UART_BAUD > 0x3FFFFF
#error "MCUC_UART_CLOCK_HZ / (16 x MCUC_UART_BAUD) is outside the PL011's divider range (1..65535)"
#endif

void mcuc_uart_init(void)
{
    UART_CR = 0u; /* disabled while it is configured */
    UART_IBRD = UART_DIV64 >> 6;
    UART_FBRD = UART_DIV64 & 0x3Fu;
    UART_LCR_H = LCR_H_WLEN_8 | LCR_H_FEN; /* 8N1, FIFOs; latches IBRD and FBRD */
    UART_RSR = 0u;                          /* clear any receive error */
    UART_CR = CR_UARTEN | CR_TXE | CR_RXE;
}

void mcuc_uart_putc(uint8_t byte)
{
    while (UART_FR & FR_TXFF) {
    }
    UART_DR = byte;
}

uint8_t mcuc_uart_getc(void)
{
    while (UART_FR & FR_RXFE) {
    }
    return (uint8_t)UART_DR; /* the error bits (11:8) are dropped: the frame CRCs catch errors */
}

void mcuc_uart_flush(void)
{
    while (UART_FR & FR_BUSY) { /* BUSY: the transmit FIFO is not empty or a byte is going out */
    }
}
