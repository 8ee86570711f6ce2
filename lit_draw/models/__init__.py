"""Plain ``nn.Module`` models; none of them imports Lightning or W&B."""

from lit_draw.models.draw import DRAWClassifier
from lit_draw.models.net import AttentionNet
from lit_draw.models.ram import RAM
from lit_draw.models.trace import Trace
from lit_draw.models.wsram import WSRAM

__all__ = ["AttentionNet", "DRAWClassifier", "RAM", "Trace", "WSRAM"]
