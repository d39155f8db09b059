//! The open-files limit (`ulimit -n`): a thousand connections need a thousand descriptors, and
//! many shells start with a soft limit of 1024. The soft limit may be raised up to the hard
//! one without privileges.

use serde::Serialize;

/// The open-files limit after [`ensure_open_files`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct OpenFiles {
    pub soft: u64,
    pub hard: u64,
    /// The soft limit before it was raised, when it was.
    pub raised_from: Option<u64>,
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit when it is below `needed`, and fails
/// when even the hard limit is below it.
pub fn ensure_open_files(needed: u64) -> Result<OpenFiles, String> {
    let (soft, hard) = get()?;
    if soft >= needed {
        return Ok(OpenFiles { soft, hard, raised_from: None });
    }
    if hard < needed {
        return Err(format!(
            "{needed} descriptors are needed but the open-files limit is {soft} (hard {hard}); \
             raise it (`ulimit -n {needed}` as root, or /etc/security/limits.conf)"
        ));
    }
    // An unlimited hard limit still stops at the kernel's nr_open: ask only for what is needed.
    let target = if hard == libc::RLIM_INFINITY { needed } else { hard };
    set(target, hard)?;
    let (raised, hard) = get()?;
    Ok(OpenFiles { soft: raised, hard, raised_from: Some(soft) })
}

fn get() -> Result<(u64, u64), String> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `limit` is a valid, writable rlimit for the duration of the call.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    if rc != 0 {
        return Err(format!("getrlimit(RLIMIT_NOFILE): {}", std::io::Error::last_os_error()));
    }
    Ok((limit.rlim_cur, limit.rlim_max))
}

fn set(soft: u64, hard: u64) -> Result<(), String> {
    let limit = libc::rlimit { rlim_cur: soft, rlim_max: hard };
    // SAFETY: `limit` is a valid rlimit that the call only reads.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) };
    if rc != 0 {
        return Err(format!("setrlimit(RLIMIT_NOFILE, {soft}): {}", std::io::Error::last_os_error()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_need_changes_nothing_and_an_impossible_one_is_refused() {
        let ok = ensure_open_files(16).expect("16 descriptors");
        assert!(ok.soft >= 16 && ok.hard >= ok.soft && ok.raised_from.is_none(), "{ok:?}");
        let error = ensure_open_files(u64::MAX - 1).expect_err("no system allows 2^64 open files");
        assert!(error.contains("RLIMIT_NOFILE") || error.contains("open-files limit"), "{error}");
    }
}
