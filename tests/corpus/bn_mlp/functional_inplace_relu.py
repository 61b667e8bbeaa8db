# expect: pass
class BatchNormMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(20, 64)
        self.bn = nn.BatchNorm1d(64)
        self.fc2 = nn.Linear(64, 1)

    def forward(self, x):
        out = self.bn(self.fc1(x))
        out = F.relu(out, inplace=True)
        out = self.fc2(out)
        return out.sigmoid()
