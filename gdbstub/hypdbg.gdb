# GDB commands for hypdbg's hyp-level features (loaded by `hypdbg gdb IMAGE`,
# or by hand: `source .../hypdbg/gdbstub/hypdbg.gdb`).

define catch-hvc
  if $argc == 0
    monitor catch hvc
  end
  if $argc == 1
    monitor catch hvc $arg0
  end
  if $argc == 3
    monitor catch hvc $arg0 $arg1 $arg2
  end
end
document catch-hvc
Stop when the CPU enters Hyp mode through an HVC.
Usage: catch-hvc [IMM [from host|guest[:VMID]]]
end

define catch-trap
  if $argc == 0
    monitor catch trap
  end
  if $argc == 1
    monitor catch trap $arg0
  end
  if $argc == 2
    monitor catch trap $arg0 $arg1
  end
end
document catch-trap
Stop on a trap to Hyp mode, optionally of the given classes.
Classes: wfx cp15 cp14 hcptr smc dabt iabt undef svc.
Usage: catch-trap [CLASS [CLASS]]
end

define catch-irq
  monitor catch irq
end
document catch-irq
Stop when a physical IRQ is taken to Hyp mode (an IRQ exit).
end

define catch-eret
  if $argc == 0
    monitor catch eret
  end
  if $argc == 1
    monitor catch eret $arg0
  end
end
document catch-eret
Stop when an ERET enters a world. Usage: catch-eret [host|guest[:VMID]]
end

define worlds
  monitor worlds
  info threads
end
document worlds
The worlds seen so far (host, hypervisor, guests by VMID) and their GDB threads.
end

define exits
  if $argc == 0
    monitor exits
  end
  if $argc == 1
    monitor exits $arg0
  end
end
document exits
The exit log (entries to Hyp and ERETs into worlds). Usage: exits [N|stats]
end

define hyp
  monitor hyp
end
document hyp
HCR and HSR decoded, VTTBR and VMID, ELR_hyp, SPSR_hyp and the last exit.
end
