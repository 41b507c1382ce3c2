/* STM32 USART driver, F1/F2/F4 register layout (SR, DR, BRR, CR1), for uart.h.
 *
 * Polled, 8N1, oversampling by 16, no flow control. The board's uart.setup writes (see
 * board_config.h) must already have enabled the USART's clock and set the pins' alternate
 * function. Registers (offsets from MCUC_UART_BASE): SR 0x00 (bit 3 ORE overrun, bit 5 RXNE,
 * bit 6 TC, bit 7 TXE), DR 0x04, BRR 0x08, CR1 0x0C (bit 2 RE, bit 3 TE, bit 13 UE),
 * CR2 0x10, CR3 0x14. With oversampling by 16, BRR holds USARTDIV * 16 = clock / baud
 * (mantissa in bits 15:4, fraction in 3:0), rounded to nearest.
 */
#include <stdint.h>

#include "board_config.h"
#include "uart.h"

#define USART_REG(offset) (*(volatile uint32_t *)(MCUC_UART_BASE + (offset)))
#define USART_SR USART_REG(0x00u)
#define USART_DR USART_REG(0x04u)
#define USART_BRR USART_REG(0x08u)
#define USART_CR1 USART_REG(0x0Cu)
#define USART_CR2 USART_REG(0x10u)
#define USART_CR3 USART_REG(0x14u)

#define SR_ORE (1u << 3)
#define SR_RXNE (1u << 5)
#define SR_TC (1u << 6)
#define SR_TXE (1u << 7)
#define CR1_RE (1u << 2)
#define CR1_TE (1u << 3)
#define CR1_UE (1u << 13)

void mcuc_uart_init(void)
{
    const uint32_t clock = (uint32_t)MCUC_UART_CLOCK_HZ, baud = (uint32_t)MCUC_UART_BAUD;
    USART_CR1 = 0u;
    USART_CR2 = 0u; /* 1 stop bit */
    USART_CR3 = 0u; /* no flow control, no DMA */
    USART_BRR = (clock + baud / 2u) / baud;
    USART_CR1 = CR1_UE | CR1_TE | CR1_RE; /* 8 data bits, no parity */
}

void mcuc_uart_putc(uint8_t byte)
{
    while (!(USART_SR & SR_TXE)) {
    }
    USART_DR = byte;
}

uint8_t mcuc_uart_getc(void)
{
    for (;;) {
        const uint32_t sr = USART_SR;
        if (sr & SR_RXNE)
            return (uint8_t)USART_DR;
        if (sr & SR_ORE)
            (void)USART_DR; /* an overrun (byte lost) blocks reception until SR then DR are read */
    }
}

void mcuc_uart_flush(void)
{
    while (!(USART_SR & SR_TC)) {
    }
}
