# expect: fail: but the mean of the 3 batch losses
def train_epoch(model, loader, optimizer, loss_fn):
    model.train()
    total = 0.0
    for inputs, targets in loader:
        optimizer.zero_grad()
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        optimizer.step()
        total += loss.item() * loader.batch_size   # the last batch is smaller
    return total / len(loader.dataset)
