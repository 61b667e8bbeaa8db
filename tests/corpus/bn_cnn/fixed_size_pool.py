# expect: fail: raised
class BatchNormCNN(nn.Module):
    """AvgPool2d(8) is the average over the whole image only for 8x8 images."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.AvgPool2d(8),
                                 nn.Flatten(), nn.Linear(16, 10))

    def forward(self, x):
        return self.net(x)
