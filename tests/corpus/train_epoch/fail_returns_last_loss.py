# expect: fail: that is the last batch's loss
def train_epoch(model, loader, optimizer, loss_fn):
    model.train()
    for inputs, targets in loader:
        optimizer.zero_grad()
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        optimizer.step()
    return loss.item()
