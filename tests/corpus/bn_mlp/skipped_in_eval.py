# expect: fail: In eval mode your BatchNormMLP skips its BatchNorm1d(64)
class BatchNormMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(20, 64)
        self.bn = nn.BatchNorm1d(64)
        self.fc2 = nn.Linear(64, 1)

    def forward(self, x):
        h = self.fc1(x)
        if self.training:  # "normalization is for training"
            h = self.bn(h)
        return torch.sigmoid(self.fc2(F.relu(h)))
