# expect: pass
class BatchNormMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(20, 64)
        self.bn = nn.BatchNorm1d(64, eps=1e-3, momentum=None)
        self.out = nn.Linear(64, 1)

    def forward(self, x):
        x = x.view(x.size(0), -1)
        return torch.sigmoid(self.out(F.relu(self.bn(self.fc(x)))))
