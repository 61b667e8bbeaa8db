# expect: pass
class BatchNormMLP(nn.Module):
    def __init__(self):
        super().__init__()
        # the bias is redundant before BN
        self.net = nn.Sequential(nn.Linear(20, 64, bias=False), nn.BatchNorm1d(64), nn.ReLU(), nn.Linear(64, 1), nn.Sigmoid())

    def forward(self, x):
        return self.net(x)
