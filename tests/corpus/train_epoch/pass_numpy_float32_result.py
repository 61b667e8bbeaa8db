# expect: pass
def train_epoch(model, loader, optimizer, loss_fn):
    model.train()
    losses = np.zeros(len(loader), dtype=np.float32)
    for i, (inputs, targets) in enumerate(loader):
        model.zero_grad()
        optimizer.zero_grad()
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        optimizer.step()
        losses[i] = loss.item()
    return losses.mean()
