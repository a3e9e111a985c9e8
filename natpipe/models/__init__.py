"""fairseq models of natpipe, one module per paper; importing the package registers them."""
from natpipe.models import hrt  # noqa: F401
