"""Hint-based NART training (Li et al. 2019, [HINT]), one place: registry entry (system.py), model
(uniform-copy decoder input, positional attention, length T_x + C), criterion (Eq. 3: NLL + hints
on hidden states and on word alignments from the frozen AR teacher), task and generator (2B+1
length candidates rescored by the teacher) and the paper's tables."""
