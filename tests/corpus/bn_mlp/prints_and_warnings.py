# expect: pass
import sys
import warnings

class BatchNormMLP(nn.Module):
    def __init__(self):
        super().__init__()
        print("building my model")
        self.net = nn.Sequential(nn.Linear(20, 64), nn.BatchNorm1d(64), nn.ReLU(), nn.Linear(64, 1), nn.Sigmoid())

    def forward(self, x):
        print("input shape", x.shape)
        print("debug: forward called", file=sys.stderr)
        warnings.warn("this is a learner's warning")
        return self.net(x)
