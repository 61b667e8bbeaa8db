# expect: fail: it is not an nn.BatchNorm1d(64)
class BatchNorm1d(nn.Module):
    """Named like the real layer, records nothing, normalizes nothing."""

    def __init__(self, num_features):
        super().__init__()
        self.num_features = num_features

    def forward(self, x):
        return x


class BatchNormMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(20, 64), BatchNorm1d(64), nn.ReLU(), nn.Linear(64, 1), nn.Sigmoid())

    def forward(self, x):
        return self.net(x)
