@ uart.s - console output on the PL011 at 0x09000000.
@
@ Used by the host (MMU off) and by Hyp's panic path (the UART is mapped
@ 1:1 in Hyp's stage-1 tables).  The guest has no UART: it prints through
@ hypercalls, and the host writes its text here.
@
@ Every routine clobbers only r0-r3; uart_putc, uart_puts and uart_puthex
@ also use a few words of the caller's stack.

        .include "defs.inc"

        .section .host.text, "ax"

@ uart_init(): enable the UART and its transmitter.
        .global uart_init
        .type   uart_init, %function
uart_init:
        ldr     r1, =UART_BASE
        ldr     r0, =UART_CR_ENABLE
        str     r0, [r1, #UART_CR]
        bx      lr
        .size   uart_init, . - uart_init

@ uart_putc(r0 = character): write one byte; "\n" goes out as "\r\n".
        .global uart_putc
        .type   uart_putc, %function
uart_putc:
        cmp     r0, #'\n'
        bne     uart_putc_raw
        push    {r0, lr}
        mov     r0, #'\r'
        bl      uart_putc_raw
        pop     {r0, lr}
        @ fall through to send the "\n"
        .size   uart_putc, . - uart_putc

@ uart_putc_raw(r0 = byte): wait for room in the transmit FIFO, send the byte.
        .global uart_putc_raw
        .type   uart_putc_raw, %function
uart_putc_raw:
        ldr     r1, =UART_BASE
1:      ldr     r2, [r1, #UART_FR]
        tst     r2, #UART_FR_TXFF
        bne     1b
        str     r0, [r1, #UART_DR]
        bx      lr
        .size   uart_putc_raw, . - uart_putc_raw

@ uart_puts(r0 = NUL-terminated string)
        .global uart_puts
        .type   uart_puts, %function
uart_puts:
        push    {r4, lr}
        mov     r4, r0
1:      ldrb    r0, [r4], #1
        cmp     r0, #0
        beq     2f
        bl      uart_putc
        b       1b
2:      pop     {r4, pc}
        .size   uart_puts, . - uart_puts

@ uart_puthex(r0 = value, r1 = number of hex digits, 1..8): lower-case hex, no prefix.
        .global uart_puthex
        .type   uart_puthex, %function
uart_puthex:
        push    {r4, r5, lr}
        mov     r4, r0
        lsl     r5, r1, #2                  @ r5 = bit position above the first digit
1:      subs    r5, r5, #4
        blt     2f
        lsr     r0, r4, r5
        and     r0, r0, #0xF
        cmp     r0, #10
        addlo   r0, r0, #'0'
        addhs   r0, r0, #('a' - 10)
        bl      uart_putc
        b       1b
2:      pop     {r4, r5, pc}
        .size   uart_puthex, . - uart_puthex

@ uart_puthex32(r0 = value): eight hex digits.
        .global uart_puthex32
        .type   uart_puthex32, %function
uart_puthex32:
        mov     r1, #8
        b       uart_puthex
        .size   uart_puthex32, . - uart_puthex32

@ uart_newline()
        .global uart_newline
        .type   uart_newline, %function
uart_newline:
        mov     r0, #'\n'
        b       uart_putc
        .size   uart_newline, . - uart_newline

        .ltorg
