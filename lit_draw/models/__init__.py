"""Plain ``nn.Module`` models; none of them imports Lightning or W&B."""

from lit_draw.models.draw import DRAWClassifier
from lit_draw.models.trace import Trace

__all__ = ["DRAWClassifier", "Trace"]
