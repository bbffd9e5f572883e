"""Exception routing rules of ARM ARM B1.8/B1.9 (armv7-virt.md 2.2)."""
from hypdbg.core.hyp import routing
from hypdbg.core.hyp.routing import HCR_IMO, HCR_TGE

SVC, USR, HYP = 0x13, 0x10, 0x1A


def test_hyp_offsets_b1_8_3():
    assert routing.hyp_offset("hvc", SVC) == 0x14      # HVC from NS PL1: Hyp Trap
    assert routing.hyp_offset("hvc", HYP) == 0x08      # HVC in Hyp: Hyp Call
    assert routing.hyp_offset("svc", HYP) == 0x08
    assert routing.hyp_offset("undef", HYP) == 0x04
    assert routing.hyp_offset("dabt", SVC) == 0x14     # stage-2 abort from PL1
    assert routing.hyp_offset("irq", SVC) == 0x18


def test_tge_routes_user_exceptions_only():
    assert routing.routes_to_hyp("svc", USR, HCR_TGE)
    assert not routing.routes_to_hyp("svc", SVC, HCR_TGE)
    assert routing.routes_to_hyp("undef", USR, HCR_TGE)
    assert not routing.routes_to_hyp("undef", USR, 0)


def test_irq_routing_and_masking():
    assert routing.routes_to_hyp("irq", SVC, HCR_IMO)
    assert not routing.routes_to_hyp("irq", SVC, 0)
    # routed to Hyp from PL1, CPSR.I does not mask it
    assert routing.irq_unmasked("irq", SVC, 0x80 | SVC, HCR_IMO)
    assert not routing.irq_unmasked("irq", SVC, 0x80 | SVC, 0)
    # in Hyp, an IRQ is taken to Hyp whatever IMO says (B1.9.11), CPSR.I masks it
    assert not routing.irq_unmasked("irq", HYP, 0x80 | HYP, HCR_IMO)
    assert routing.irq_unmasked("irq", HYP, HYP, HCR_IMO)
    assert routing.irq_unmasked("irq", HYP, HYP, 0)


def test_pl1_targets_table_b1_3():
    assert routing.pl1_target("undef") == (0x1B, 0x04)
    assert routing.pl1_target("dabt") == (0x17, 0x10)
    assert routing.pl1_target("fiq") == (0x11, 0x1C)
