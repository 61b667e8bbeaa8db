# expect: fail: still normalizes with the batch's statistics
class BatchNormCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
                                 nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10))

    def train(self, mode=True):
        return super().train(True)  # eval() calls train(False): ignored

    def forward(self, x):
        return self.net(x)
