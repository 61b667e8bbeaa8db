# expect: fail: returned a tensor
def train_epoch(model, loader, optimizer, loss_fn):
    model.train()
    total = 0
    for inputs, targets in loader:
        optimizer.zero_grad()
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        optimizer.step()
        total += loss
    return total / len(loader)
