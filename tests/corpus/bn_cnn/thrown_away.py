# expect: fail: thrown away
class BatchNormCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, padding=1)
        self.bn = nn.BatchNorm2d(16)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        h = self.conv(x)
        self.bn(h)
        return self.fc(F.relu(h).mean((2, 3)))
