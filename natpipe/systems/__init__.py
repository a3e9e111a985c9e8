"""One package per model family or paper: its registry entry (`system.py`), and where it has
them its fairseq model, criterion, task and generator and its paper tables (`tables.py`).
Every package here is found by natpipe.registry; nothing else lists them."""
