//! Setup of question 10 (tasks, models, measurements used only by its experiment).
