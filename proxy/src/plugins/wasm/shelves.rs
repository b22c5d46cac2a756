//! Ready plugin instances, kept on one shelf per calling thread.
//!
//! An instance's hot state (its store, the guest's stack and heap pages, wasmtime's
//! context) is a few kilobytes a call reads and writes. With one shared stack of idle
//! instances, two workers take turns with the same instance (the one returned last is
//! the one handed out next), so each call starts by pulling that state over from the
//! other core's cache. A thread that finds its own shelf empty takes from another's, so
//! no instance sits idle while a thread makes a new one.

use std::sync::{Mutex, MutexGuard};

use crate::plugins::per_thread::{slot as my_shelf, Padded, SLOTS as SHELVES};

pub struct Shelves<T> {
    /// Each shelf's lock and length are written by every call on its thread: padded, or
    /// two workers' shelves would share a cache line.
    shelves: Box<[Padded<Mutex<Vec<T>>>]>,
    /// At most this many idle items per shelf; more are dropped when given back.
    per_shelf: usize,
}

impl<T> Shelves<T> {
    pub fn new(per_shelf: usize) -> Shelves<T> {
        Shelves {
            shelves: (0..SHELVES)
                .map(|_| Padded(Mutex::new(Vec::new())))
                .collect(),
            per_shelf,
        }
    }

    fn shelf(&self, index: usize) -> MutexGuard<'_, Vec<T>> {
        self.shelves[index]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// An idle item: the one this thread gave back last, else any other thread's.
    pub fn take(&self) -> Option<T> {
        let mine = my_shelf();
        (0..SHELVES).find_map(|offset| self.shelf((mine + offset) % SHELVES).pop())
    }

    /// Keeps `item` on this thread's shelf; hands it back when the shelf is full, so the
    /// caller drops it outside the lock.
    pub fn give_back(&self, item: T) -> Option<T> {
        let mut shelf = self.shelf(my_shelf());
        if shelf.len() < self.per_shelf {
            shelf.push(item);
            None
        } else {
            Some(item)
        }
    }

    /// Spreads `items` over the shelves, for any thread to take.
    pub fn fill(&mut self, items: Vec<T>) {
        for (index, item) in items.into_iter().enumerate() {
            self.shelves[index % SHELVES]
                .get_mut()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .push(item);
        }
    }

    /// Drops every idle item.
    pub fn clear(&self) {
        for index in 0..SHELVES {
            let emptied = std::mem::take(&mut *self.shelf(index));
            drop(emptied);
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        (0..SHELVES).map(|index| self.shelf(index).len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_gets_back_what_it_gave_back() {
        let shelves = Shelves::new(2);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::scope(|scope| {
            scope.spawn(|| {
                assert!(shelves.give_back("other thread's").is_none());
                tx.send(()).unwrap();
            });
            rx.recv().unwrap();
            assert!(shelves.give_back("mine").is_none());
            // Both are idle; this thread is handed its own, although the other one was
            // given back first.
            assert_eq!(shelves.take(), Some("mine"));
            // Its own shelf is empty now: it takes the other thread's rather than none.
            assert_eq!(shelves.take(), Some("other thread's"));
            assert_eq!(shelves.take(), None);
        });
    }

    #[test]
    fn a_full_shelf_hands_the_item_back() {
        let shelves = Shelves::new(2);
        assert!(shelves.give_back(1).is_none());
        assert!(shelves.give_back(2).is_none());
        assert_eq!(shelves.give_back(3), Some(3));
        assert_eq!(shelves.len(), 2);
    }

    #[test]
    fn filled_items_are_taken_by_any_thread_and_cleared() {
        let mut shelves = Shelves::new(1);
        shelves.fill((0..20).collect());
        assert_eq!(shelves.len(), 20, "fill is not bounded by per_shelf");
        std::thread::scope(|scope| {
            scope.spawn(|| assert!(shelves.take().is_some()));
        });
        assert_eq!(shelves.len(), 19);
        shelves.clear();
        assert_eq!(shelves.len(), 0);
        assert_eq!(shelves.take(), None);
    }
}
