/* STM32 USART driver, "v2" register layout (CR1, BRR, ISR, ICR, RDR, TDR) of the F0/F3/F7/G0/
 * G4/H7/L4/WB families, for uart.h; also their LPUART (UART type "stm32-lpuart", built with
 * MCUC_UART_LPUART = 1 in board_config.h: the same registers, the LPUART divider below).
 *
 * Polled, 8N1, oversampling by 16, no flow control, no FIFO (H7: CR1.FIFOEN stays 0). The
 * board's uart.setup writes (board_config.h) must already have enabled the USART's kernel and
 * bus clocks and set the pins' alternate function; MCUC_UART_CLOCK_HZ is the kernel clock
 * (reset clock selection: PCLK).
 * Registers (offsets from MCUC_UART_BASE, reference manuals RM0385 "USART registers", RM0433,
 * RM0432): CR1 0x00 (bit 0 UE, bit 2 RE, bit 3 TE, bit 15 OVER8 = 0), CR2 0x04, CR3 0x08,
 * BRR 0x0C, ISR 0x1C (bit 0 PE, 1 FE, 2 NE, 3 ORE, 5 RXNE, 6 TC, 7 TXE), ICR 0x20 (the same
 * bits clear PE/FE/NE/ORE), RDR 0x24, TDR 0x28. With oversampling by 16, BRR = USARTDIV =
 * clock / baud, rounded to nearest (H7: USART_PRESC stays at its reset value, divide by 1).
 */
#include <stdint.h>

#include "board_config.h"
#include "uart.h"

#define USART_REG(offset) (*(volatile uint32_t *)(MCUC_UART_BASE + (offset)))
#define USART_CR1 USART_REG(0x00u)
#define USART_CR2 USART_REG(0x04u)
#define USART_CR3 USART_REG(0x08u)
#define USART_BRR USART_REG(0x0Cu)
#define USART_ISR USART_REG(0x1Cu)
#define USART_ICR USART_REG(0x20u)
#define USART_RDR USART_REG(0x24u)
#define USART_TDR USART_REG(0x28u)

#define CR1_UE (1u << 0)
#define CR1_RE (1u << 2)
#define CR1_TE (1u << 3)
#define ISR_ERRORS 0x0Fu /* PE, FE, NE, ORE (and the same bits in ICR clear them) */
#define ISR_RXNE (1u << 5)
#define ISR_TC (1u << 6)
#define ISR_TXE (1u << 7)

#if MCUC_UART_LPUART
/* LPUART (L4/L4+/G0/G4/WB/H7 LPUART1): the same registers and bits, another divider (RM0432
 * "LPUART baud rate generation"): BRR = 256 * fck / baud, 20 bits, at least 0x300 (fck between
 * 3x and 4096x the baud rate). At 4 MHz (MSI after reset on the L4) and 115200 baud BRR = 8889,
 * 0.001% off. 256 * fck overflows 32 bits above 16.7 MHz: 64-bit constant arithmetic (the
 * preprocessor evaluates #if in at least 64 bits). LPUART_PRESC (L4+, 0x2C) stays at divide
 * by 1. On the L4+ with LPUART1 on port G the setup writes must also set PWR_CR2.IOSV. */
#define USART_DIV ((uint32_t)(((uint64_t)MCUC_UART_CLOCK_HZ * 256u + MCUC_UART_BAUD / 2u) / \
                              MCUC_UART_BAUD))
#if (MCUC_UART_CLOCK_HZ * 256 + MCUC_UART_BAUD / 2) / MCUC_UART_BAUD < 0x300 || \
    (MCUC_UART_CLOCK_HZ * 256 + MCUC_UART_BAUD / 2) / MCUC_UART_BAUD > 0xFFFFF
#error "256 * MCUC_UART_CLOCK_HZ / MCUC_UART_BAUD is outside the LPUART's range (0x300..0xFFFFF)"
#endif
#else
#define USART_DIV ((MCUC_UART_CLOCK_HZ + MCUC_UART_BAUD / 2u) / MCUC_UART_BAUD)
#if USART_DIV < 16 || USART_DIV > 0xFFFF
#error "MCUC_UART_CLOCK_HZ / MCUC_UART_BAUD is outside the USART's divider range (16..65535)"
#endif
#endif

void mcuc_uart_init(void)
{
    USART_CR1 = 0u; /* disabled: BRR and the frame format may only change while UE = 0 */
    USART_CR2 = 0u; /* 1 stop bit */
    USART_CR3 = 0u; /* no flow control, no DMA */
    USART_BRR = (uint32_t)USART_DIV;
    USART_ICR = ISR_ERRORS;
    USART_CR1 = CR1_UE | CR1_TE | CR1_RE; /* 8 data bits, no parity, oversampling by 16 */
}

void mcuc_uart_putc(uint8_t byte)
{
    while (!(USART_ISR & ISR_TXE)) {
    }
    USART_TDR = byte;
}

uint8_t mcuc_uart_getc(void)
{
    for (;;) {
        const uint32_t isr = USART_ISR;
        if (isr & ISR_RXNE)
            return (uint8_t)USART_RDR;
        if (isr & ISR_ERRORS)
            USART_ICR = isr & ISR_ERRORS; /* an overrun stops reception until ORE is cleared */
    }
}

void mcuc_uart_flush(void)
{
    while (!(USART_ISR & ISR_TC)) {
    }
}
