# expect: fail: did not call the loss_fn it was given
def train_epoch(model, loader, optimizer, loss_fn):
    model.train()
    criterion = nn.BCELoss()
    total = 0.0
    for inputs, targets in loader:
        optimizer.zero_grad()
        loss = criterion(model(inputs), targets)
        loss.backward()
        optimizer.step()
        total += loss.item()
    return total / len(loader)
