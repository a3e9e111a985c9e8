"""fairseq criterions of natpipe, one module per paper; importing the package registers them."""
from natpipe.criterions import fully_nat, hrt  # noqa: F401
