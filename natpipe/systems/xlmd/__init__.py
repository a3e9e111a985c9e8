"""XLM-D (Wang et al., [XLMD]), one place: registry entry (system.py), the decorator blocks
(decorator.py: latent transformation, add & scale, block masking, constrained CTC, iterative block
decoding), the model over a pretrained XLM-R (model.py, pretrained.py), criterion, task, generator
and the paper's tables."""
