# expect: pass
class BatchNormMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(20, 64)
        self.norm = nn.BatchNorm1d(64)
        self.l2 = nn.Linear(64, 1)

    def forward(self, x):
        return self.l2(self.norm(self.l1(x)).relu()).sigmoid()
