/* STM32 LPUART driver (L4/L4+/G0/G4/WB/H7 LPUART1), for uart.h.
 *
 * Polled, 8N1, no flow control. The register layout is the USART "v2" one (CR1 0x00, CR2 0x04,
 * CR3 0x08, BRR 0x0C, ISR 0x1C, ICR 0x20, RDR 0x24, TDR 0x28; same CR1/ISR bit positions:
 * CR1 bit 0 UE, 2 RE, 3 TE; ISR bit 0-3 PE/FE/NE/ORE, 5 RXNE, 6 TC, 7 TXE) but the divider
 * differs (RM0432 "LPUART baud rate generation"): BRR = 256 * fck / baud, 20 bits, and must
 * be at least 0x300 (fck between 3x and 4096x the baud rate). At 4 MHz (MSI after reset on
 * the L4) and 115200 baud BRR = 8889, 0.001% off. The board's uart.setup writes must already
 * have enabled the LPUART clock and the pins (on the L4+ with LPUART1 on port G: PWR_CR2.IOSV).
 * LPUART_PRESC (L4+, 0x2C) stays at its reset value (divide by 1).
 */
#include <stdint.h>

#include "board_config.h"
#include "uart.h"

#define LPUART_REG(offset) (*(volatile uint32_t *)(MCUC_UART_BASE + (offset)))
#define LPUART_CR1 LPUART_REG(0x00u)
#define LPUART_CR2 LPUART_REG(0x04u)
#define LPUART_CR3 LPUART_REG(0x08u)
#define LPUART_BRR LPUART_REG(0x0Cu)
#define LPUART_ISR LPUART_REG(0x1Cu)
#define LPUART_ICR LPUART_REG(0x20u)
#define LPUART_RDR LPUART_REG(0x24u)
#define LPUART_TDR LPUART_REG(0x28u)

#define CR1_UE (1u << 0)
#define CR1_RE (1u << 2)
#define CR1_TE (1u << 3)
#define ISR_ERRORS 0x0Fu /* PE, FE, NE, ORE (the same bits in ICR clear them) */
#define ISR_RXNE (1u << 5)
#define ISR_TC (1u << 6)
#define ISR_TXE (1u << 7)

/* 256 * fck overflows 32 bits above 16.7 MHz: 64-bit arithmetic (constants, folded by gcc;
 * the preprocessor evaluates #if in at least 64 bits). */
#define LPUART_DIV ((uint32_t)(((uint64_t)MCUC_UART_CLOCK_HZ * 256u + MCUC_UART_BAUD / 2u) / \
                               MCUC_UART_BAUD))
#if (MCUC_UART_CLOCK_HZ * 256 + MCUC_UART_BAUD / 2) / MCUC_UART_BAUD < 0x300 || \
    (MCUC_UART_CLOCK_HZ * 256 + MCUC_UART_BAUD / 2) / MCUC_UART_BAUD > 0xFFFFF
#error "256 * MCUC_UART_CLOCK_HZ / MCUC_UART_BAUD is outside the LPUART's range (0x300..0xFFFFF)"
#endif

void mcuc_uart_init(void)
{
    LPUART_CR1 = 0u; /* disabled: BRR and the frame format may only change while UE = 0 */
    LPUART_CR2 = 0u; /* 1 stop bit */
    LPUART_CR3 = 0u; /* no flow control, no DMA */
    LPUART_BRR = LPUART_DIV;
    LPUART_ICR = ISR_ERRORS;
    LPUART_CR1 = CR1_UE | CR1_TE | CR1_RE; /* 8 data bits, no parity */
}

void mcuc_uart_putc(uint8_t byte)
{
    while (!(LPUART_ISR & ISR_TXE)) {
    }
    LPUART_TDR = byte;
}

uint8_t mcuc_uart_getc(void)
{
    for (;;) {
        const uint32_t isr = LPUART_ISR;
        if (isr & ISR_RXNE)
            return (uint8_t)LPUART_RDR;
        if (isr & ISR_ERRORS)
            LPUART_ICR = isr & ISR_ERRORS; /* an overrun stops reception until ORE is cleared */
    }
}

void mcuc_uart_flush(void)
{
    while (!(LPUART_ISR & ISR_TC)) {
    }
}
