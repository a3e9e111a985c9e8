"""fairseq tasks of natpipe; importing the package registers them."""
from natpipe.tasks import translation_fully_nat, translation_hrt, translation_mixdistill  # noqa: F401
