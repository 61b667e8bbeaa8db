# expect: fail: should subclass nn.Module
class BatchNormMLP:
    def __init__(self):
        self.net = nn.Sequential(nn.Linear(20, 64), nn.BatchNorm1d(64), nn.ReLU(), nn.Linear(64, 1), nn.Sigmoid())

    def __call__(self, x):
        return self.net(x)
