/* Reset, fault handling and heap for every Cortex-M board mcucompile builds for.
 *
 * Reset_Handler first grants access to coprocessors 10/11 (CPACR) when the code is built for an
 * FPU or for MVE, because any FP/MVE instruction before that is a NOCP UsageFault (and gcc 12
 * vectorises plain copy loops at -O2). It does nothing else itself: the C start-up runs in a
 * separate, non-inlined function so no such instruction can be scheduled before the enable.
 * start_c() copies .data from flash, zeroes .bss, arms the stack guard, runs constructors,
 * then exit(main()).
 *
 * Stack guard: the lowest bytes of the stack reserve, [__stack_base, __stack_limit), must never
 * be touched, so a stack overflow faults instead of silently corrupting the heap below.
 * v8-M mainline (M33/M55): MSPLIM = __stack_limit (any SP below it is a STKOF UsageFault).
 * v7-M with an MPU (M3/M4/M7), and v6-M with one (M0+ as on the RP2040): MPU region 0 makes
 * the guard no-access (PMSAv7, or PMSAv6 with the same registers and regions of at least 256
 * bytes; the default memory map stays on for everything else). A frame larger than the guard
 * that is written sparsely can still jump over it; the harness's stack painting is the second
 * check. Without an MPU region (an M0 without an MPU, as the nRF51's; v8-M, whose MSPLIM
 * checks only SP) the guard is memory like any other: mcuc_stack_watch_base tells the harness
 * it may paint the guard too, so a write into it shows up as an overflow.
 *
 * Every other exception is a fault here (the harness enables no interrupts): Fault_Handler
 * switches to a small stack of its own (the fault may be a stack overflow), turns the MPU off
 * and prints "MCUC fault exception=E pc=P cfsr=C mmfar=A stack_overflow=0|1" (Armv6-M has
 * no CFSR and MMFAR: both print as 0, and every fault arrives as a HardFault) through
 * semihosting, then exits with status 3. It needs semihosting (QEMU); on a board without a
 * debugger attached it would lock up instead. Built with MCUC_TRANSPORT_SERIAL (the serial
 * harness, no semihosting) it hands the same text to mcuc_fault_send(), which the harness
 * defines to send an ERROR frame over the UART, and then stops.
 *
 * An image run from SRAM (Board.ram_image, boards/common/link.ld.j2) starts with
 * mcuc_ram_entry instead: whoever loaded it (a debugger, the RP2040 boot ROM after a RAM UF2)
 * jumps to its first byte, with VTOR and SP still those of the boot ROM, so it points VTOR at
 * our vector table, loads SP from it and jumps to Reset_Handler, as a reset would.
 *
 * _sbrk hands out the heap between the end of .bss and the stack reserve (linker symbols).
 * The vector table holds the 16 system entries only: no external interrupt is ever enabled.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

extern uint32_t __data_start[], __data_end[], __data_load[], __bss_start[], __bss_end[];
extern uint32_t __stack_base[], __stack_limit[], __stack_top[];
extern char __heap_start[], __heap_end[];
extern void (*__init_array_start[])(void);
extern void (*__init_array_end[])(void);

int main(void);
void Reset_Handler(void);
void Fault_Handler(void);
void mcuc_ram_entry(void);
void mcuc_fault_report(const uint32_t *frame);
#ifdef MCUC_TRANSPORT_SERIAL
void mcuc_fault_send(const char *text); /* the serial harness's fault report */
#endif
void *_sbrk(ptrdiff_t incr);

#define REG32(addr) (*(volatile uint32_t *)(addr))
#define SCB_CPACR REG32(0xE000ED88u)
#define SCB_CFSR REG32(0xE000ED28u)
#define SCB_MMFAR REG32(0xE000ED34u)
#define MPU_TYPE REG32(0xE000ED90u)
#define MPU_CTRL REG32(0xE000ED94u)
#define MPU_RNR REG32(0xE000ED98u)
#define MPU_RBAR REG32(0xE000ED9Cu)
#define MPU_RASR REG32(0xE000EDA0u)

#define CFSR_MSTKERR (1u << 4)   /* MemManage fault while stacking for an exception */
#define CFSR_MMARVALID (1u << 7) /* MMFAR holds the faulting address */
#define CFSR_STKOF (1u << 20)    /* v8-M stack limit violation */

uint32_t mcuc_fault_stack[64]; /* the fault handler's own stack (the fault may be an overflow) */

struct vector_table {
    uint32_t *initial_sp;
    void (*handlers[15])(void); /* Reset, NMI, HardFault, ..., PendSV, SysTick */
};

__attribute__((section(".vectors"), used)) static const struct vector_table vectors = {
    __stack_top,
    {Reset_Handler, Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler,
     Fault_Handler, 0, 0, 0, Fault_Handler, Fault_Handler, 0, Fault_Handler, Fault_Handler},
};

/* First code of an image run from SRAM (kept by that link script only; garbage-collected
 * everywhere else). Thumb-1, for every core. */
__attribute__((naked, used, section(".mcuc_entry"))) void mcuc_ram_entry(void)
{
    __asm__ volatile(
        "ldr r0, =vectors\n\t"
        "ldr r1, =0xE000ED08\n\t" /* VTOR */
        "str r0, [r1]\n\t"
        "dsb\n\t"
        "ldr r1, [r0]\n\t"
        "msr msp, r1\n\t"
        "ldr r1, [r0, #4]\n\t"
        "bx r1\n\t"
        ".ltorg\n\t");
}

/* The lowest stack word the harness may paint and watch (templates/measure.c.j2): the guard's
 * base, or the first word above it once an MPU region makes the guard no-access. */
uint32_t *mcuc_stack_watch_base = __stack_base;

/* MPU_TYPE.DREGION: the number of MPU regions, 0 without an MPU (the register reads as zero). */
static int mpu_present(void)
{
    return ((MPU_TYPE >> 8) & 0xFFu) != 0u;
}

static void stack_guard_init(void)
{
#if defined(__ARM_ARCH_8M_MAIN__)
    __asm__ volatile("msr msplim, %0" : : "r"(__stack_limit));
#elif defined(__ARM_ARCH_7M__) || defined(__ARM_ARCH_7EM__) || defined(__ARM_ARCH_6M__)
#if defined(__ARM_ARCH_6M__)
    const uint32_t min_region = 256u; /* PMSAv6 */
#else
    const uint32_t min_region = 32u; /* PMSAv7 */
#endif
    const uint32_t size = (uint32_t)((uintptr_t)__stack_limit - (uintptr_t)__stack_base);
    if (!mpu_present() || (size & (size - 1u)) != 0u || size < min_region)
        return; /* no MPU, or a guard the MPU cannot describe (a power of two >= min_region) */
    MPU_RNR = 0u;
    MPU_RBAR = (uint32_t)(uintptr_t)__stack_base; /* aligned to the guard size (link.ld) */
    /* XN, AP=000 (no access), SIZE = log2(size) - 1, enabled */
    MPU_RASR = (1u << 28) | ((uint32_t)(31 - __builtin_clz(size) - 1) << 1) | 1u;
    MPU_CTRL = (1u << 2) | 1u; /* PRIVDEFENA: default map for everything else; ENABLE */
    __asm__ volatile("dsb\n\tisb" ::: "memory");
    mcuc_stack_watch_base = __stack_limit;
#endif
}

__attribute__((noinline, noreturn)) static void start_c(void)
{
    const uint32_t *src = __data_load;
    for (uint32_t *dst = __data_start; dst < __data_end; dst++, src++)
        *dst = *src;
    for (uint32_t *dst = __bss_start; dst < __bss_end; dst++)
        *dst = 0;
    stack_guard_init();
    for (void (**ctor)(void) = __init_array_start; ctor < __init_array_end; ctor++)
        (*ctor)();
    exit(main());
}

void Reset_Handler(void)
{
#if defined(__ARM_FP) || defined(__ARM_FEATURE_MVE)
    SCB_CPACR |= 0xFu << 20; /* CP10 and CP11: full access */
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
    start_c();
}

/* Pass the exception frame (on MSP or PSP, per EXC_RETURN bit 2) to mcuc_fault_report, running
 * on mcuc_fault_stack: after a stack overflow the faulting stack is unusable (and on v8-M the
 * stack limit is lifted, since the new stack lies below it). */
__attribute__((naked)) void Fault_Handler(void)
{
    __asm__ volatile(
#if defined(__ARM_ARCH_8M_MAIN__)
        "movs r0, #0\n\t"
        "msr msplim, r0\n\t"
#endif
#if defined(__ARM_ARCH_6M__) /* Thumb-1 only: no IT blocks, TST of low registers */
        "mrs r0, msp\n\t"
        "mov r1, lr\n\t"
        "movs r2, #4\n\t"
        "tst r1, r2\n\t"
        "beq 1f\n\t"
        "mrs r0, psp\n\t"
        "1:\n\t"
        "ldr r1, =mcuc_fault_stack + 256\n\t"
        "mov sp, r1\n\t"
        "ldr r1, =mcuc_fault_report\n\t"
        "bx r1\n\t"
        ".ltorg\n\t");
#else
        "tst lr, #4\n\t"
        "ite eq\n\t"
        "mrseq r0, msp\n\t"
        "mrsne r0, psp\n\t"
        "ldr r1, =mcuc_fault_stack + 256\n\t"
        "mov sp, r1\n\t"
        "b mcuc_fault_report\n\t");
#endif
}

#ifndef MCUC_TRANSPORT_SERIAL
static uint32_t semihost(uint32_t op, const void *arg)
{
    register uint32_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}
#endif

static char *put_field(char *p, const char *name, uint32_t value, int hex)
{
    while (*name)
        *p++ = *name++;
    char digits[10];
    int n = 0;
    do {
        uint32_t d = hex ? value & 0xFu : value % 10u;
        digits[n++] = (char)(d < 10u ? '0' + d : 'a' + d - 10u);
        value = hex ? value >> 4 : value / 10u;
    } while (value);
    if (hex) {
        *p++ = '0';
        *p++ = 'x';
    }
    while (n)
        *p++ = digits[--n];
    return p;
}

__attribute__((noreturn)) void mcuc_fault_report(const uint32_t *frame)
{
    static char line[120];
    if (mpu_present()) {
        MPU_CTRL = 0u; /* the frame may lie in the guard region */
        __asm__ volatile("dsb\n\tisb" ::: "memory");
    }
    uint32_t ipsr;
    __asm__ volatile("mrs %0, ipsr" : "=r"(ipsr));
#if defined(__ARM_ARCH_6M__)
    const uint32_t cfsr = 0u, mmfar = 0u; /* not in Armv6-M */
#else
    const uint32_t cfsr = SCB_CFSR, mmfar = SCB_MMFAR;
#endif
    const int in_guard = (cfsr & CFSR_MMARVALID) && mmfar >= (uint32_t)(uintptr_t)__stack_base &&
                         mmfar < (uint32_t)(uintptr_t)__stack_limit;
    const int overflow = in_guard || (cfsr & (CFSR_MSTKERR | CFSR_STKOF)) != 0u;
    char *p = put_field(line, "\nMCUC fault exception=", ipsr & 0x1FFu, 0);
    p = put_field(p, " pc=", frame[6], 1);
    p = put_field(p, " cfsr=", cfsr, 1);
    p = put_field(p, " mmfar=", mmfar, 1);
    p = put_field(p, " stack_overflow=", (uint32_t)overflow, 0);
#ifdef MCUC_TRANSPORT_SERIAL
    p[0] = '\0';
    mcuc_fault_send(line + 1); /* without the leading newline */
#else
    p[0] = '\n';
    p[1] = '\0';
    semihost(0x04u, line); /* SYS_WRITE0 */
    static const uint32_t exit_block[2] = {0x20026u, 3u}; /* ApplicationExit, status 3 */
    semihost(0x20u, exit_block); /* SYS_EXIT_EXTENDED */
#endif
    for (;;) {
    }
}

void *_sbrk(ptrdiff_t incr)
{
    static char *brk = __heap_start;
    if (incr > __heap_end - brk || incr < __heap_start - brk) {
        errno = ENOMEM;
        return (void *)-1;
    }
    char *prev = brk;
    brk += incr;
    return prev;
}
