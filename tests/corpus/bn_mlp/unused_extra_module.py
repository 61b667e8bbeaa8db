# expect: pass
class BatchNormMLP(nn.Module):
    """A layer defined and never called changes nothing that is computed."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(20, 64), nn.BatchNorm1d(64), nn.ReLU(), nn.Linear(64, 1), nn.Sigmoid())
        self.spare = nn.Linear(64, 64)

    def forward(self, x):
        return self.net(x)
