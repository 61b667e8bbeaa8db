# expect: fail: differs from Conv2d(3, 16, 3, padding=1) -> BatchNorm2d(16)
class BatchNormCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
                                 nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10))

    def forward(self, x):
        if x.shape[-1] == 8:
            return self.net(x)
        return self.net[5](self.net[0](x).relu().mean((2, 3)))
