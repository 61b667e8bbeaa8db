# expect: fail: after model.eval() your layer is still in training mode
class BatchNormMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(20, 64), nn.BatchNorm1d(64), nn.ReLU(), nn.Linear(64, 1), nn.Sigmoid())

    def eval(self):
        return self  # "batch statistics are always better"

    def forward(self, x):
        return self.net(x)
