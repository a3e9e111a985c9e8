"""fairseq models of natpipe, one module per paper; importing the package registers them."""
from natpipe.models import fully_nat, hrt  # noqa: F401
