"""A university: students, departments, courses, terms, sections, enrollments and grades."""

from __future__ import annotations

import datetime
from types import SimpleNamespace

import dj_jupyter as dj


def declare(schema) -> SimpleNamespace:
    @schema
    class Student(dj.Manual):
        definition = """
        student_id : int32   # university-wide id
        ---
        first_name : varchar(40)
        last_name : varchar(40)
        sex : enum('F', 'M', 'U')
        date_of_birth : date
        home_state : char(2)
        """

    @schema
    class Department(dj.Manual):
        definition = """
        dept : varchar(6)   # abbreviated department name, e.g. BIOL
        ---
        dept_name : varchar(200)
        """

    @schema
    class StudentMajor(dj.Manual):
        definition = """
        -> Student
        ---
        -> Department
        declare_date : date
        """

    @schema
    class Course(dj.Manual):
        definition = """
        -> Department
        course : int32   # course number, e.g. 1010
        ---
        course_name : varchar(200)
        credits : decimal(3,1)
        """

    @schema
    class Term(dj.Manual):
        definition = """
        term_year : int16
        term : enum('Spring', 'Summer', 'Fall')
        """

    @schema
    class Section(dj.Manual):
        definition = """
        -> Course
        -> Term
        section : char(1)
        ---
        auditorium : varchar(12)
        """

    @schema
    class Enroll(dj.Manual):
        definition = """
        -> Student
        -> Section
        """

    @schema
    class LetterGrade(dj.Lookup):
        definition = """
        grade : char(2)
        ---
        points : decimal(3,2)
        """
        contents = [("A", 4.00), ("A-", 3.67), ("B+", 3.33), ("B", 3.00), ("B-", 2.67), ("C+", 2.33),
                    ("C", 2.00), ("D", 1.00), ("F", 0.00)]

    @schema
    class Grade(dj.Manual):
        definition = """
        -> Enroll
        ---
        -> LetterGrade
        """

    return SimpleNamespace(Student=Student, Department=Department, StudentMajor=StudentMajor, Course=Course,
                           Term=Term, Section=Section, Enroll=Enroll, LetterGrade=LetterGrade, Grade=Grade)


STUDENTS = [
    (1, "Ada", "Lovelace", "F", datetime.date(1996, 12, 10), "CA"),
    (2, "Alan", "Turing", "M", datetime.date(1995, 6, 23), "NY"),
    (3, "Grace", "Hopper", "F", datetime.date(1997, 12, 9), "NY"),
    (4, "Edsger", "Dijkstra", "M", datetime.date(1998, 5, 11), "TX"),
    (5, "Barbara", "Liskov", "F", datetime.date(1999, 11, 7), "CA"),
    (6, "Donald", "Knuth", "M", datetime.date(1998, 1, 10), "WA"),
    (7, "Frances", "Allen", "F", datetime.date(1997, 8, 4), "NY"),
    (8, "Ken", "Thompson", "U", datetime.date(2000, 2, 4), "CA"),
]
DEPARTMENTS = [("BIOL", "Life Sciences"), ("CS", "Computer Science"), ("MATH", "Mathematics"), ("PHYS", "Physics")]
COURSES = [("BIOL", 1006, "World of Dinosaurs", 3.0), ("BIOL", 2020, "Genetics", 4.0),
           ("CS", 1030, "Introduction to Programming", 4.0), ("CS", 2420, "Algorithms", 4.0),
           ("CS", 3500, "Software Practice", 3.0), ("MATH", 1210, "Calculus I", 4.0),
           ("MATH", 2270, "Linear Algebra", 3.5), ("PHYS", 2210, "Physics for Scientists", 4.0)]
TERMS = [(2023, "Fall"), (2024, "Spring"), (2024, "Fall")]


MAJORS = [
    dict(student_id=1, dept="CS", declare_date=datetime.date(2015, 1, 1)),
    dict(student_id=2, dept="MATH", declare_date=datetime.date(2014, 3, 1)),
    dict(student_id=3, dept="CS", declare_date=datetime.date(2016, 9, 1)),
    dict(student_id=5, dept="BIOL", declare_date=datetime.date(2018, 9, 1)),
    dict(student_id=6, dept="CS", declare_date=datetime.date(2017, 2, 1)),
]
SECTIONS = [dict(dept=dept, course=course, term_year=year, term=term, section="a", auditorium=f"{dept}-{course % 100}")
            for dept, course, _, _ in COURSES for year, term in TERMS[:2]]
ENROLL_KEYS = ("student_id", "dept", "course", "term_year", "term", "section")
ENROLL = [dict(zip(ENROLL_KEYS, row)) for row in [
    (1, "CS", 1030, 2023, "Fall", "a"), (1, "CS", 2420, 2024, "Spring", "a"), (1, "MATH", 1210, 2023, "Fall", "a"),
    (2, "MATH", 1210, 2023, "Fall", "a"), (2, "MATH", 2270, 2024, "Spring", "a"),
    (3, "CS", 1030, 2023, "Fall", "a"), (3, "BIOL", 1006, 2024, "Spring", "a"),
    (4, "PHYS", 2210, 2023, "Fall", "a"),
    (5, "BIOL", 1006, 2023, "Fall", "a"), (5, "BIOL", 2020, 2024, "Spring", "a"),
    (6, "CS", 1030, 2023, "Fall", "a"), (6, "CS", 2420, 2024, "Spring", "a"), (6, "CS", 3500, 2024, "Spring", "a"),
]]
_LETTERS = {(1, 1030): "A", (1, 2420): "A-", (1, 1210): "B+", (2, 1210): "A", (2, 2270): "B",
            (3, 1030): "B+", (3, 1006): "A", (4, 2210): "C", (5, 1006): "A", (5, 2020): "B-",
            (6, 1030): "A", (6, 2420): "A"}
GRADES = [dict(row, grade=_LETTERS[(row["student_id"], row["course"])]) for row in ENROLL
          if (row["student_id"], row["course"]) in _LETTERS]
LETTER_POINTS = {"A": 4.00, "A-": 3.67, "B+": 3.33, "B": 3.00, "B-": 2.67, "C+": 2.33, "C": 2.00, "D": 1.00, "F": 0.00}


def fill(u: SimpleNamespace) -> None:
    """A fixed, small, hand-checkable data set (the module constants above)."""
    u.Student.insert(STUDENTS)
    u.Department.insert(DEPARTMENTS)
    u.StudentMajor.insert(MAJORS)
    u.Course.insert(COURSES)
    u.Term.insert(TERMS)
    u.Section.insert(SECTIONS)
    u.Enroll.insert(ENROLL)
    u.Grade.insert(GRADES)
