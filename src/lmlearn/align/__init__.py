"""Alignment: a reward model from preference pairs, PPO against a reward with a KL penalty, and DPO
and its relatives (IPO, hinge, SimPO), each a method on the shared engine (see docs/align.md)."""
