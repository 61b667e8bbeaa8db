# expect: pass
class BatchNormMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(20, 64), nn.BatchNorm1d(64, eps=1e-2, momentum=0.5), nn.ReLU(),
                                 nn.Linear(64, 1), nn.Sigmoid())

    def forward(self, x):
        return self.net(x)
