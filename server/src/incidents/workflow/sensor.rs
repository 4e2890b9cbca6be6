//! A registered sensor's alarms on the case it opened (物联感知, `crate::sensors`): the
//! first raise names the sensor in the trace, every later raise while the case is open is
//! counted on it instead of opening another case, and a clear is noted. None of them
//! changes the case's status: the loop goes on as people drive it.

use super::{Case, Event, Refusal, SYSTEM, UserId};

/// Decides a sensor's alarm on `case`: [`Event::AlarmRaised`] for the first raise,
/// [`Event::AlarmRepeated`] (counted) for each one after, [`Event::AlarmCleared`] for a
/// clear. Only the system records them, on the word of a sensor whose key the door
/// checked; a case that left the loop takes none (its sensor's next alarm opens a new one).
pub(super) fn decide(
    case: &Case,
    actor: UserId,
    sensor: &str,
    raised: bool,
    illegal: impl Fn() -> Refusal,
) -> Result<Vec<Event>, Refusal> {
    if case.status.is_final() {
        return Err(illegal());
    }
    if actor != SYSTEM {
        return Err(Refusal::Invalid(
            "only the system records a sensor's alarm: its key is checked at the door".into(),
        ));
    }
    let sensor = sensor.trim();
    if sensor.is_empty() {
        return Err(Refusal::Invalid("a sensor's alarm names the sensor".into()));
    }
    let sensor = sensor.to_owned();
    Ok(vec![match (raised, case.sensor_alarms) {
        (true, 0) => Event::AlarmRaised { sensor },
        (true, raised_before) => Event::AlarmRepeated { sensor, repeated: raised_before },
        (false, _) => Event::AlarmCleared { sensor },
    }])
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::super::{Command, Status, decide};
    use super::*;

    fn alarm(raised: bool) -> Command {
        Command::SensorAlarm { sensor: "s-1".into(), raised }
    }

    /// Decides and applies `command` as the system; the events.
    fn step(case: &mut Case, command: &Command) -> Vec<Event> {
        let events = decide(case, SYSTEM, command, 10).unwrap();
        for e in &events {
            case.apply(e, 10);
        }
        events
    }

    #[test]
    fn the_first_raise_names_the_sensor_and_each_later_one_is_counted() {
        let mut case = Case::reported(0);
        assert_eq!(step(&mut case, &alarm(true)), [Event::AlarmRaised { sensor: "s-1".into() }]);
        for n in 1..=9 {
            assert_eq!(step(&mut case, &alarm(true)), [Event::AlarmRepeated { sensor: "s-1".into(), repeated: n }]);
        }
        assert_eq!(case.sensor_alarms, 10);
        assert_eq!(step(&mut case, &alarm(false)), [Event::AlarmCleared { sensor: "s-1".into() }]);
        assert_eq!(case.sensor_alarms, 10, "a clear counts nothing");
        assert_eq!(case.status, Status::Reported, "alarms change no status");
        assert_eq!(case.since_ms, 0, "nor when the status began");
        assert_eq!(case.inconsistency(), None);
    }

    #[test]
    fn alarms_leave_a_case_where_the_loop_has_it() {
        let mut case = Case::reported(0);
        case.apply(&Event::Registered, 5);
        let before = case.clone();
        step(&mut case, &alarm(true));
        step(&mut case, &alarm(false));
        assert_eq!(case.status, Status::Registered);
        assert_eq!(Case { sensor_alarms: 0, ..case }, before, "nothing but the count moved");
    }

    #[test]
    fn a_case_out_of_the_loop_takes_no_alarm() {
        for status in [Status::Closed, Status::Rejected, Status::Merged] {
            let case = Case { status, ..Case::reported(0) };
            for raised in [true, false] {
                let refused = decide(&case, SYSTEM, &alarm(raised), 10).unwrap_err();
                assert!(matches!(refused, Refusal::IllegalTransition { action: "sensor_alarm", .. }), "{status}");
            }
        }
    }

    #[test]
    fn only_the_system_records_an_alarm_and_it_names_its_sensor() {
        let case = Case::reported(0);
        let person = uuid::Uuid::from_u128(7);
        assert!(matches!(decide(&case, person, &alarm(true), 10), Err(Refusal::Invalid(_))));
        let nameless = Command::SensorAlarm { sensor: " ".into(), raised: true };
        assert!(matches!(decide(&case, SYSTEM, &nameless, 10), Err(Refusal::Invalid(_))));
    }

    #[test]
    fn the_events_keep_their_names_on_the_wire() {
        let names: Vec<String> = [
            Event::AlarmRaised { sensor: "s".into() },
            Event::AlarmRepeated { sensor: "s".into(), repeated: 2 },
            Event::AlarmCleared { sensor: "s".into() },
        ]
        .iter()
        .map(|e| serde_json::to_value(e).unwrap()["event"].as_str().unwrap().to_owned())
        .collect();
        assert_eq!(names, ["alarm_raised", "alarm_repeated", "alarm_cleared"]);
        let state = serde_json::to_value(Case::reported(0)).unwrap();
        assert!(state.get("sensor_alarms").is_none(), "a case no sensor reported stores no count");
    }
}
