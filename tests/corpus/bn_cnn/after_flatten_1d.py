# expect: fail: You used BatchNorm1d
class BatchNormCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                 nn.BatchNorm1d(16), nn.Linear(16, 10))

    def forward(self, x):
        return self.net(x)
