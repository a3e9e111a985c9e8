"""HRT: hybrid-regressive translation (Wang et al.), one place: registry entry (system.py),
model (Skip-AT + Skip-CMLM in one decoder), criterion (four tasks, curriculum), task, two-stage
generator and the paper's tables."""
