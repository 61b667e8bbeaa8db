# expect: pass
from collections import OrderedDict

class BatchNormMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.model = nn.Sequential(OrderedDict([
            ("hidden", nn.Linear(20, 64)),
            ("norm", nn.BatchNorm1d(64)),
            ("act", nn.ReLU()),
            ("out", nn.Linear(64, 1)),
            ("prob", nn.Sigmoid()),
        ]))

    def forward(self, x):
        return self.model(x)
