"""fairseq criterions of natpipe, one module per paper; importing the package registers them."""
from natpipe.criterions import hrt  # noqa: F401
