/* The UART driver interface the serial transport (templates/serial_harness.c.j2) runs on.
 *
 * One driver per UART family, boards/common/uart_<type with - replaced by _>.c, copied into
 * the generated project as board/uart.c. A driver includes "board_config.h" (generated per
 * build into the project's board/ directory), which defines:
 *   MCUC_UART_BASE      base address of the UART's registers
 *   MCUC_UART_CLOCK_HZ  the UART's kernel clock (uart.clock_hz, else the board's clock_hz)
 *   MCUC_UART_BAUD      the baud rate (uart.baud)
 *   static inline void mcuc_board_setup(void)  the board's uart.setup register writes
 *                       (clock enables, pin functions); the harness calls it before init.
 * Every call blocks; there are no interrupts and no buffering beyond the hardware's own.
 */
#ifndef MCUC_UART_H
#define MCUC_UART_H

#include <stdint.h>

/* Configure and enable the UART (8N1, no flow control). Runs after mcuc_board_setup(). */
void mcuc_uart_init(void);
/* Send one byte; returns once the transmitter has accepted it. */
void mcuc_uart_putc(uint8_t byte);
/* Wait for and return one received byte. */
uint8_t mcuc_uart_getc(void);
/* Wait until every byte passed to mcuc_uart_putc has left the transmitter. */
void mcuc_uart_flush(void);

#endif /* MCUC_UART_H */
