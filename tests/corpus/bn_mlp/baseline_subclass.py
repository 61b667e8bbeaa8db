# expect: pass
from utils.models import BaselineMLP

class BatchNormMLP(BaselineMLP):
    def __init__(self):
        super().__init__()
        self.net.insert(1, nn.BatchNorm1d(64))
