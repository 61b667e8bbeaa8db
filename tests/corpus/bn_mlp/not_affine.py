# expect: fail: affine=False
class BatchNormMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(20, 64), nn.BatchNorm1d(64, affine=False), nn.ReLU(),
                                 nn.Linear(64, 1), nn.Sigmoid())

    def forward(self, x):
        return self.net(x)
